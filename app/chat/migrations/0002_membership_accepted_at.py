"""Membership.accepted_at: when a member consented to a room, kept by the database.

A member accepts a room by creating it or by sending a message in it; being added to a group
or having a DM opened to you is not consent. Presence is shown only between members who
accepted (app/chat/selectors.py), so adding someone to a group no longer reveals when they
are online.

Triggers keep it exact on every write path, the seeder's COPY included:
- chat_membership BEFORE INSERT: the room's creator has accepted from the start;
- chat_message AFTER INSERT, per statement with a transition table: each sender's first
  message accepts their membership (one hash join per statement, however many rows).

Existing rows are backfilled the same way: creators, then everyone who has sent a message.
"""

from django.db import migrations, models

TRIGGERS = r"""
CREATE OR REPLACE FUNCTION chat_membership_creator_accepts() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF NEW.accepted_at IS NULL AND EXISTS (
      SELECT 1 FROM chat_room r WHERE r.id = NEW.room_id AND r.created_by_id = NEW.user_id
  ) THEN
    NEW.accepted_at := coalesce(NEW.joined_at, now());
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER chat_membership_creator_accepts
BEFORE INSERT ON chat_membership
FOR EACH ROW EXECUTE FUNCTION chat_membership_creator_accepts();

CREATE OR REPLACE FUNCTION chat_message_sender_accepts() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE chat_membership m
     SET accepted_at = s.first_at
    FROM (SELECT room_id, sender_id, min(created_at) AS first_at
            FROM new_rows GROUP BY room_id, sender_id) s
   WHERE m.room_id = s.room_id AND m.user_id = s.sender_id AND m.accepted_at IS NULL;
  RETURN NULL;
END
$$;

CREATE TRIGGER chat_message_sender_accepts
AFTER INSERT ON chat_message
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION chat_message_sender_accepts();
"""

DROP_TRIGGERS = r"""
DROP TRIGGER IF EXISTS chat_message_sender_accepts ON chat_message;
DROP FUNCTION IF EXISTS chat_message_sender_accepts();
DROP TRIGGER IF EXISTS chat_membership_creator_accepts ON chat_membership;
DROP FUNCTION IF EXISTS chat_membership_creator_accepts();
"""

BACKFILL = r"""
UPDATE chat_membership m SET accepted_at = m.joined_at
  FROM chat_room r
 WHERE r.id = m.room_id AND r.created_by_id = m.user_id AND m.accepted_at IS NULL;

UPDATE chat_membership m SET accepted_at = s.first_at
  FROM (SELECT room_id, sender_id, min(created_at) AS first_at
          FROM chat_message GROUP BY room_id, sender_id) s
 WHERE m.room_id = s.room_id AND m.user_id = s.sender_id AND m.accepted_at IS NULL;
"""


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="accepted_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(TRIGGERS, reverse_sql=DROP_TRIGGERS),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
