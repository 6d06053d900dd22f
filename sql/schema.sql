-- The catalog and event tables, and the constraints that keep bad rows out
CREATE EXTENSION reco;

-- two communities of four users; each user misses one item of their side
INSERT INTO reco_item (item_id, title, category, price, available) VALUES
	(101, 'red kettle', 'kitchen', 20, true),
	(102, 'red toaster', 'kitchen', 35, true),
	(103, 'red mug', 'kitchen', 5, true),
	(104, 'red teapot', 'kitchen', 25, true),
	(105, 'red jug', 'kitchen', 12, false),
	(201, 'blue tent', 'outdoor', 120, true),
	(202, 'blue lamp', 'outdoor', 30, true),
	(203, 'blue stove', 'outdoor', 60, true),
	(204, 'blue bottle', 'garden', 10, true);

INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT u, i, 'purchase', 1
FROM generate_series(1, 4) u, (VALUES (101), (102), (103), (104), (105)) v(i)
WHERE i <> 100 + u;
INSERT INTO reco_event (user_id, item_id, kind, value)
SELECT u, i, 'view', 1
FROM generate_series(5, 8) u, (VALUES (201), (202), (203), (204)) v(i)
WHERE i <> 196 + u;
-- repeated events accumulate: user 1 viewed the kettle twice more
INSERT INTO reco_event (user_id, item_id, kind) VALUES (1, 102, 'view'), (1, 102, 'view');
-- a rating and a return (negative quantity)
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (5, 202, 'rating', 4), (5, 203, 'purchase', -1);

SELECT kind, count(*), sum(value) FROM reco_event GROUP BY kind ORDER BY kind;

-- bad rows are rejected with a clear error
\set VERBOSITY terse
INSERT INTO reco_event (user_id, item_id, kind) VALUES (1, 101, 'like');
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (1, 101, 'view', 'NaN');
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (1, 101, 'view', 'Infinity');
INSERT INTO reco_event (user_id, item_id, kind, value) VALUES (1, 101, 'view', '-Infinity');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (NULL, 101, 'view');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (1, NULL, 'view');
INSERT INTO reco_event (user_id, item_id, kind) VALUES (1, 101, NULL);
INSERT INTO reco_item (item_id, title, price) VALUES (900, 'negative', -1);
INSERT INTO reco_item (item_id, title, attributes) VALUES (901, 'array attributes', '[1, 2]');
INSERT INTO reco_item (item_id, title) VALUES (NULL, 'no id');
INSERT INTO reco_item (item_id, title) VALUES (101, 'duplicate');
\set VERBOSITY default

-- every table, view and function of the extension carries a comment
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'reco')
  AND c.relkind IN ('r', 'v', 'S') AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'reco')
  AND obj_description(p.oid, 'pg_proc') IS NULL;

-- volatility labels: serving is STABLE, training VOLATILE
SELECT proname, prokind, provolatile, proisstrict, proparallel
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'reco')
ORDER BY proname, pronargs;

-- model tables are kept by pg_dump
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'reco' ORDER BY 1;
