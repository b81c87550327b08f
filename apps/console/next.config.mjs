/**
 * The console is a static export (`out/`), served by the API process at `/` beside `/graphql`:
 * one process, one port, one origin, so that the session cookie (SameSite=Strict) and the API's
 * origin checks work unchanged. Pages take their subjects from the query string
 * (`/queue/?name=github`), since a static export knows no queue names when it is built.
 *
 * @type {import('next').NextConfig}
 */
const nextConfig = {
  output: 'export',
  trailingSlash: true,
  reactStrictMode: true,
  images: { unoptimized: true },
  poweredByHeader: false,
};

export default nextConfig;
