import type { Clock } from '../../shared/clock.ts';
import { verifyBasic, verifyHmac, verifyToken, verifyWebhookQueue } from './generic.ts';
import { verifyGithub, verifyShopify, verifySlack, verifyStandardWebhooks, verifyStripe } from './providers.ts';
import { OK, refuse } from './support.ts';
import type { InboundRequest, Verification, VerificationOutcome } from './types.ts';

/**
 * Checks that an inbound webhook comes from the queue's provider. Never throws: a config that
 * cannot be applied (as stored configs can be) refuses the request instead of letting it through.
 */
export function verifyInbound(verification: Verification, request: InboundRequest, clock: Clock): VerificationOutcome {
  try {
    return dispatch(verification, request, clock);
  } catch {
    // The error's message is left out: it could quote the config.
    return refuse('queue verification is misconfigured');
  }
}

function dispatch(verification: Verification, request: InboundRequest, clock: Clock): VerificationOutcome {
  switch (verification.method) {
    case 'none':
      return OK;
    case 'token':
      return verifyToken(verification, request);
    case 'basic':
      return verifyBasic(verification, request);
    case 'hmac':
      return verifyHmac(verification, request);
    case 'webhook-queue':
      return verifyWebhookQueue(verification, request);
    case 'github':
      return verifyGithub(verification, request);
    case 'stripe':
      return verifyStripe(verification, request, clock);
    case 'shopify':
      return verifyShopify(verification, request);
    case 'slack':
      return verifySlack(verification, request, clock);
    case 'standard-webhooks':
      return verifyStandardWebhooks(verification, request, clock);
    default: {
      const unknown: never = verification;
      return refuse(`unknown verification method "${String((unknown as { method: unknown }).method)}"`);
    }
  }
}
