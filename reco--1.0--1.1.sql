/* reco--1.0--1.1.sql: integrity, security and privacy (issue 8) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reco UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs reco--1.0.sql and then this script, so a database
-- updated in place and a new one have the same objects by construction;
-- test/upgrade.sh checks it from the catalogs.

----------------------------------------------------------------------
-- No event lost, no model poisoned
----------------------------------------------------------------------

-- A queued event keeps its kind and value, so that an event queued for a
-- superseded version is replayed into the one served with that version's
-- own weights (NULL: queued by release 1.0, replayed with its weight).
ALTER TABLE @extschema@.reco_pending
	ADD COLUMN kind smallint,
	ADD COLUMN value real;
COMMENT ON TABLE @extschema@.reco_pending IS
	'Events applied online to the user side and waiting for reco_refresh to catch the item side up (kind is the index of the event kind in reco_event''s list, value its value); append-only, so hot items are never a lock.';

----------------------------------------------------------------------
-- Forgetting a customer
----------------------------------------------------------------------

CREATE FUNCTION @extschema@.reco_forget_user(user_id bigint,
	OUT events bigint, OUT versions int, OUT items bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'reco_forget_user'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.reco_forget_user(bigint) IS
	'Forget a customer: delete their events, their row and queued events in every version of every model, and re-solve in each version every item they touched without them (an item only they touched leaves the version); returns the events deleted, the versions that held them and the items re-solved or removed. Backups and WAL already written are outside its reach.';
