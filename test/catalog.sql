-- Every object of the reco extension described from the catalogs, one line
-- each, sorted: what test/upgrade.sh compares between an updated database
-- and a fresh install (pg_dump -s leaves extension members out).
WITH ext AS (
	SELECT oid, extnamespace FROM pg_extension WHERE extname = 'reco'
), members AS (
	SELECT d.classid, d.objid
	FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
	  AND d.deptype = 'e'
), rels AS (
	SELECT c.oid, c.relname, c.relkind FROM pg_class c
	JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
)
SELECT line FROM (
	-- membership itself
	SELECT 'member ' || pg_describe_object(classid, objid, 0) AS line FROM members
	-- functions and procedures: whole definition, privileges, comment
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
		|| E'\nacl ' || coalesce(p.proacl::text, 'default')
		|| E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
	FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	WHERE p.prokind <> 'a'
	UNION ALL
	SELECT 'aggregate ' || p.oid::regprocedure || ' ' || a.aggtransfn::text || ' '
		|| a.aggfinalfn::text || ' ' || a.aggfinalmodify::text || ' ' || p.proparallel::text
		|| ' acl ' || coalesce(p.proacl::text, 'default')
		|| ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
	FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid
	JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	-- relations: kind, options, privileges, row security, comment
	UNION ALL
	SELECT 'relation ' || c.relname || ' kind ' || c.relkind::text
		|| ' options ' || coalesce(c.reloptions::text, '') || ' acl ' || coalesce(c.relacl::text, 'default')
		|| ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
		|| ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '')
	FROM pg_class c JOIN rels r ON r.oid = c.oid
	-- columns, with types, defaults, identity, storage and comments
	UNION ALL
	SELECT 'column ' || r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		|| ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
		|| ' identity ' || a.attidentity::text || ' storage ' || a.attstorage::text
		|| ' acl ' || coalesce(a.attacl::text, 'default')
		|| ' comment ' || coalesce(col_description(r.oid, a.attnum), '')
	FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
	UNION ALL
	SELECT 'constraint ' || r.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
	FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	FROM rels r JOIN pg_index i ON i.indrelid = r.oid
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
	FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
	UNION ALL
	SELECT 'policy ' || r.relname || ' ' || po.polname || ' ' || po.polcmd::text || ' '
		|| coalesce(pg_get_expr(po.polqual, po.polrelid), '') || ' '
		|| coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '')
	FROM rels r JOIN pg_policy po ON po.polrelid = r.oid
	UNION ALL
	SELECT 'view ' || r.relname || E'\n' || pg_get_viewdef(r.oid)
	FROM rels r WHERE r.relkind = 'v'
	UNION ALL
	SELECT 'sequence ' || r.relname || ' ' || s.seqtypid::regtype || ' ' || s.seqstart || ' '
		|| s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcycle
	FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
	-- types: composite attributes come with their relation; comments here
	UNION ALL
	SELECT 'type ' || t.oid::regtype || ' comment ' || coalesce(obj_description(t.oid, 'pg_type'), '')
	FROM pg_type t JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
	-- what pg_dump keeps of the extension's tables
	UNION ALL
	SELECT 'config ' || c.conf::regclass::text || ' ' || coalesce(e.extcondition[c.n], '')
	FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY c(conf, n)
	WHERE e.extname = 'reco'
	UNION ALL
	SELECT 'extension ' || extname || ' ' || extversion || ' ' || extrelocatable FROM pg_extension
	WHERE extname = 'reco'
	-- roles the extension relies on
	UNION ALL
	SELECT 'role ' || rolname || ' ' || rolcanlogin || ' ' || rolinherit
		|| ' member of ' || coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
			FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
			WHERE am.member = r.oid), '')
	FROM pg_roles r WHERE rolname LIKE 'reco\_%'
) x
ORDER BY line;
