import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';

// One secret per user signs every callback of that user's jobs, so it lives beside the jobs
// rather than on each of them.
builder.queryFields((t) => ({
  jobSigningSecret: t.string({
    description:
      'The secret (`whsec_...`) that signs the callbacks of your jobs the Standard Webhooks way; verify them with it. Needs jobs:read.',
    resolve: async (_root, _args, ctx) => unwrapQuery(await ctx.core.jobs.signingSecret(requirePrincipal(ctx))),
  }),
}));

builder.mutationFields((t) => ({
  rotateJobSigningSecret: t.string({
    description:
      'Replaces your job signing secret; callbacks sent from now on are signed with the new one only. Needs jobs:write.',
    errors: { types: commonErrors, dataField: { name: 'secret' } },
    resolve: async (_root, _args, ctx) => unwrap(await ctx.core.jobs.rotateSigningSecret(requirePrincipal(ctx))),
  }),
}));
