import type { Result } from '../../shared/result.ts';
import { type ActionFactory, compileActionList } from './action-definition.ts';
import type { CompiledAction } from './action-types.ts';
import {
  evalAction,
  githubVerifyAction,
  logAction,
  publishAction,
  shopifyVerifyAction,
  slackVerifyAction,
  sleepAction,
  standardWebhooksVerifyAction,
  stripeVerifyAction,
  verifyAction,
} from './basic-actions.ts';
import { dockerAction, dockerComposeAction } from './docker-actions.ts';
import { executeAction } from './execute-action.ts';
import { metricsAction } from './metrics-action.ts';
import { forwardAction, httpAction } from './request-actions.ts';

/** Every action a queue may list, by the name its file gives it. */
export const ACTION_FACTORIES: Readonly<Record<string, ActionFactory>> = {
  log: logAction,
  eval: evalAction,
  sleep: sleepAction,
  http: httpAction,
  forward: forwardAction,
  publish: publishAction,
  execute: executeAction,
  metrics: metricsAction,
  docker: dockerAction,
  'docker-compose': dockerComposeAction,
  'github-verify': githubVerifyAction,
  'stripe-verify': stripeVerifyAction,
  'shopify-verify': shopifyVerifyAction,
  'slack-verify': slackVerifyAction,
  'standard-webhooks-verify': standardWebhooksVerifyAction,
  verify: verifyAction,
};

/** Actions of webhook-proxy that are refused by name, with the reason, rather than reported as unknown. */
export const REFUSED_ACTIONS: Readonly<Record<string, string>> = {
  'docker-swarm':
    'docker-swarm is not supported (webhook-proxy deprecated it); restart or update the service with an execute action running `docker service update` instead',
};

export function compileQueueActions(list: unknown): Result<CompiledAction[]> {
  return compileActionList(list, ACTION_FACTORIES, REFUSED_ACTIONS);
}
