export default function HomePage() {
  return (
    <main>
      <h1>Switchboard</h1>
      <p>
        The web console is on its way. Until then, the API serves GraphQL at <code>/graphql</code> on port 4000, and the{' '}
        <code>switchboard</code> command line manages users and tokens.
      </p>
    </main>
  );
}
