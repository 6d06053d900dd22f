# Sourced by the NumPy cross-checks (test/*_check.sh): movielens_db DB
# makes a fresh database with reco and MovieLens 100K's u.data as table
# ml (u, i, r, t); python names the interpreter the checks run.
python=/usr/bin/python3

movielens_db() {
	local db=$1
	local data=${RECO_SHARED_DATA:-../shared/data}/movielens-100k/u.data

	dropdb --if-exists "$db"
	createdb "$db"
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION reco" \
		-c "CREATE TABLE ml (u bigint, i bigint, r int, t bigint)" \
		-c "\copy ml FROM pstdin" < "$data"
}
