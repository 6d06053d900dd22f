/* reco--1.0--1.1.sql: integrity, security and privacy (issue 8) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reco UPDATE TO '1.1'" to load this file. \quit

-- A fresh install runs reco--1.0.sql and then this script, so a database
-- updated in place and a new one have the same objects by construction;
-- test/upgrade.sh checks it from the catalogs.
