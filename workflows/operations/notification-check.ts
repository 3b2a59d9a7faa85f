// Owns `notificationCheck`: one notification through the worker's configured channels, so an operator can prove
// the Slack webhook and PagerDuty routing key work (and tests can crash a worker mid-delivery). Changes nothing.
import { ApplicationFailure } from '@temporalio/workflow';
import type { NotifyEvent } from '../../activities/index.ts';
import { FailureType } from '../../common/failures.ts';
import { notifyEvent, type NotificationRecord } from '../phases/notify.ts';

export interface NotificationCheckInput {
  event?: NotifyEvent;
  summary?: string;
  requestedBy?: string;
}

export async function notificationCheck(input: NotificationCheckInput = {}): Promise<NotificationRecord> {
  const record = await notifyEvent(undefined, input.event ?? 'started', {
    rollbackType: 'check',
    target: 'notification-check',
    summary: input.summary ?? 'notification check: no rollback is running',
    ...(input.requestedBy ? { details: { requestedBy: input.requestedBy } } : {}),
  });
  if (record.error) {
    throw ApplicationFailure.create({ type: FailureType.Unavailable, nonRetryable: true, message: record.error });
  }
  return record;
}
