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
