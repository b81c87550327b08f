import { systemPrincipal } from '../access/principal.ts';
import type { SubscriptionsService } from '../delivery/subscriptions-service.ts';
import type { Clock } from '../shared/clock.ts';
import type { SubscriptionId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import type { EventPublisher } from './event-publisher.ts';

/**
 * `subscription.disabled`, Switchboard's own event: published when deliveries' outcomes disabled
 * subscriptions (too many failures, or a 410 Gone), to the owner's subscriptions and admins'.
 */
export async function announceDisabledSubscriptions(
  deps: { publisher: EventPublisher; subscriptions: SubscriptionsService; clock: Clock; logger: Logger },
  disabled: ReadonlyArray<{ subscriptionId: SubscriptionId; reason: string }>,
): Promise<void> {
  await deps.subscriptions.changed();
  for (const { subscriptionId, reason } of disabled) {
    const found = await deps.subscriptions.find(systemPrincipal, subscriptionId);
    if (!found) continue;
    const published = await deps.publisher.publishSystem(
      'subscription.disabled',
      {
        subscriptionId,
        name: found.name,
        url: found.url,
        reason,
        disabledAt: (found.disabledAt ?? deps.clock.now()).toISOString(),
      },
      found.userId,
    );
    if (!published.ok) deps.logger.warn({ error: published.error }, 'subscription.disabled not published');
  }
}
