-- Which in-app notifications each user has read. The notifications themselves are a read model
-- (read.notifications, rebuilt from the events at will); whether someone has read one is not in
-- any event, so it lives here, outside the read schema. A rebuild derives every notification id
-- again from (event id, recipient), so these rows stay attached to the same notifications.
--
-- "Mark all as read" writes one row per notification the user had at that moment, not a
-- time cut-off: a notification whose event is older but that a lagging projector adds later
-- must still arrive unread.
CREATE TABLE notify.notification_reads (
  notification_id uuid PRIMARY KEY,
  user_id uuid NOT NULL,  -- the recipient (for erasure and per-user clean-up)
  read_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_reads_user ON notify.notification_reads (user_id);
