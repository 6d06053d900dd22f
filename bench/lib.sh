# Shared by the bench scripts: source it after cd to the repository root.

# A fresh database of this name, dropped again when the script exits
fresh_db() {
	dropdb --if-exists "$1" 2>/dev/null
	createdb "$1"
	trap "dropdb --if-exists '$1'" EXIT
}

# Median, min and max of the seconds on standard input, one per line
median() {
	sort -n | awk '{a[NR] = $1} END {printf "%.3f s (min %.3f, max %.3f, %d runs)", a[int((NR + 1) / 2)], a[1], a[NR], NR}'
}

# The median alone of the numbers on standard input, one per line
median_value() {
	sort -n | awk '{a[NR] = $1} END {printf "%.3f", a[int((NR + 1) / 2)]}'
}

# MovieLens 100K's five folds into table fold (fold, part, u, i, r, t) of
# database $1, from directory $2
load_folds() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" \
		-c "CREATE TABLE fold (fold int, part text, u bigint, i bigint, r int, t bigint)"
	for n in 1 2 3 4 5; do
		for part in base test; do
			psql -X -q -v ON_ERROR_STOP=1 -d "$1" \
				-c "CREATE TEMP TABLE f (u bigint, i bigint, r int, t bigint)" \
				-c "\\copy f FROM '$2/u$n.$part'" \
				-c "INSERT INTO fold SELECT $n, '$part', * FROM f"
		done
	done
}
