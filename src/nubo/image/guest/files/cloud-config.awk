# Translate the #cloud-config subset nubo-init supports into shell calls.
#
# The tiny guest has no YAML parser, so this reads the block-style YAML that
# cloud-config documents are written in and prints one shell call per action,
# every argument single-quoted, for nubo-init to run with its own functions:
#
#   cc_hostname NAME                          hostname:, fqdn:
#   cc_ssh_key KEY                            ssh_authorized_keys:
#   cc_write_file PATH PERMS OWNER ENCODING APPEND CONTENT
#                                             write_files:
#   cc_runcmd LINE                            runcmd: (a list item becomes a
#                                             quoted argv line, as cloud-init does)
#   cc_unsupported KEY                        any other top-level key
#   cc_error MESSAGE                          something it could not read
#
# Understood YAML: top-level "key: value"; block sequences ("- item", also at
# the parent's indentation); flow sequences ("[a, 'b c']"); plain, 'single'
# and "double" quoted scalars; literal (|, |-, |+) and folded (>) block
# scalars. Anchors, tags, multi-line plain scalars and flow mappings are not.

{ sub(/\r$/, ""); line[++N] = $0 }

END {
	i = 1
	if (N > 0 && line[1] ~ /^#cloud-config/) i = 2
	while (i <= N) i = top(i)
}

function q(s) {
	gsub(/'/, "'\\''", s)
	return "'" s "'"
}

function indent(s) {
	match(s, /^ */)
	return RLENGTH
}

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

# A line that carries nothing outside a block scalar: blank or a comment.
function blank(s) {
	return s ~ /^[ \t]*(#.*)?$/
}

function is_block(s) {
	return s ~ /^[|>][-+]?[0-9]?[ \t]*(#.*)?$/
}

function error(msg) {
	print "cc_error " q(msg)
}

# Parse one scalar (already trimmed); the result is in the global val.
function scalar(s,   c, i, e, out) {
	c = substr(s, 1, 1)
	if (c == "'") {
		out = ""
		for (i = 2; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "'") {
				if (substr(s, i + 1, 1) == "'") { out = out "'"; i++; continue }
				val = out
				return 1
			}
			out = out c
		}
		error("unterminated quoted string: " s)
		val = out
		return 0
	}
	if (c == "\"") {
		out = ""
		for (i = 2; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\"") { val = out; return 1 }
			if (c == "\\") {
				e = substr(s, ++i, 1)
				if (e == "n") out = out "\n"
				else if (e == "t") out = out "\t"
				else if (e == "r") out = out "\r"
				else if (e == "0") out = out ""
				else out = out e
				continue
			}
			out = out c
		}
		error("unterminated quoted string: " s)
		val = out
		return 0
	}
	# A plain scalar ends at a comment.
	sub(/[ \t]+#.*$/, "", s)
	val = trim(s)
	return 1
}

# Split a flow sequence "[a, 'b, c', "d"]" into items[1..nitems].
function flow(s,   body, i, c, quote, cur) {
	nitems = 0
	sub(/[ \t]+#[^\]]*$/, "", s)
	s = trim(s)
	if (substr(s, length(s), 1) != "]") {
		error("unterminated flow sequence: " s)
		return 0
	}
	body = substr(s, 2, length(s) - 2)
	cur = ""
	quote = ""
	for (i = 1; i <= length(body); i++) {
		c = substr(body, i, 1)
		if (quote != "") {
			cur = cur c
			if (c == "\\" && quote == "\"") { cur = cur substr(body, ++i, 1); continue }
			if (c == quote) quote = ""
			continue
		}
		if (c == "'" || c == "\"") { quote = c; cur = cur c; continue }
		if (c == ",") { flow_item(cur); cur = ""; continue }
		cur = cur c
	}
	if (trim(cur) != "" || nitems > 0) flow_item(cur)
	return 1
}

function flow_item(s) {
	scalar(trim(s))
	items[++nitems] = val
}

# Quote a list of arguments into one shell command line.
function argv_line(   i, out) {
	out = ""
	for (i = 1; i <= nitems; i++) out = out (i > 1 ? " " : "") q(items[i])
	return out
}

# Read a block scalar whose indicator is ind and whose owner sits at column
# parent; the lines start at i. Sets val, returns the next line index.
function block(i, parent, ind,   bi, text, blanks, s, n, k, lines, out) {
	bi = -1
	n = 0
	blanks = 0
	while (i <= N) {
		s = line[i]
		if (s ~ /^[ \t]*$/) { blanks++; i++; continue }
		if (bi < 0) bi = indent(s)
		if (bi <= parent || indent(s) < bi) break
		for (k = 0; k < blanks; k++) lines[++n] = ""
		blanks = 0
		lines[++n] = substr(s, bi + 1)
		i++
	}
	out = ""
	if (ind ~ /^>/) {
		# Folded: a line break between two text lines becomes a space.
		for (k = 1; k <= n; k++) {
			# A blank line stands for one line break; the lines it separates
			# are not joined by a space.
			if (k > 1) out = out (lines[k] == "" ? "\n" : (lines[k - 1] == "" ? "" : " "))
			out = out lines[k]
		}
	} else {
		for (k = 1; k <= n; k++) out = out (k > 1 ? "\n" : "") lines[k]
	}
	if (n > 0 && ind !~ /-/) out = out "\n"
	if (ind ~ /\+/) for (k = 0; k < blanks; k++) out = out "\n"
	val = out
	return i
}

# The value after "key:" (or "- "), which may open a block scalar on the
# following lines. Sets val, returns the next line index.
function item_value(rest, i, col) {
	if (is_block(rest)) return block(i + 1, col, substr(rest, 1, 2))
	scalar(rest)
	return i + 1
}

# Skip the body of a key nubo-init does not handle.
function skip(i) {
	while (i <= N && (blank(line[i]) || indent(line[i]) > 0 || line[i] ~ /^-( |$)/)) i++
	return i
}

# First line of a block sequence below a top-level key, or 0.
function seq_start(i) {
	while (i <= N && blank(line[i])) i++
	if (i > N) return 0
	if (substr(line[i], indent(line[i]) + 1) !~ /^-( |$)/) return 0
	return i
}

function top(i,   s, key, rest) {
	s = line[i]
	if (blank(s)) return i + 1
	if (!match(s, /^[A-Za-z0-9_.-]+:( |$)/)) {
		error("cannot read line " i ": " s)
		return skip(i + 1)
	}
	key = substr(s, 1, RLENGTH)
	sub(/: ?$/, "", key)
	rest = trim(substr(s, RLENGTH + 1))
	if (key == "hostname" || key == "fqdn") {
		scalar(rest)
		if (val != "") print "cc_hostname " q(val)
		return i + 1
	}
	if (key == "ssh_authorized_keys" || key == "runcmd") {
		if (substr(rest, 1, 1) == "[") {
			flow(rest)
			list_items(key)
			return i + 1
		}
		if (rest != "" && !blank(rest)) {
			error(key " must be a list")
			return i + 1
		}
		return sequence(i + 1, key)
	}
	if (key == "write_files") {
		if (rest == "[]") return i + 1
		return write_files(i + 1)
	}
	print "cc_unsupported " q(key)
	return skip(i + 1)
}

function list_items(key,   k) {
	for (k = 1; k <= nitems; k++) {
		if (key == "runcmd") print "cc_runcmd " q(items[k])
		else print "cc_ssh_key " q(items[k])
	}
}

function sequence(i, key,   si, s, rest, col, start, j, ni) {
	start = seq_start(i)
	if (!start) return i
	i = start
	si = indent(line[i])
	while (i <= N) {
		s = line[i]
		if (blank(s)) { i++; continue }
		if (indent(s) != si || substr(s, si + 1) !~ /^-( |$)/) break
		match(substr(s, si + 1), /^- */)
		col = si + RLENGTH
		rest = trim(substr(s, col + 1))
		if (key == "runcmd" && substr(rest, 1, 1) == "[") {
			flow(rest)
			print "cc_runcmd " q(argv_line())
			i++
			continue
		}
		if (key == "runcmd" && (rest == "" || rest ~ /^- /)) {
			# A nested block sequence: one command as an argument list.
			nitems = 0
			if (rest ~ /^- /) { scalar(trim(substr(rest, 3))); items[++nitems] = val }
			for (j = i + 1; j <= N; j++) {
				if (blank(line[j])) continue
				ni = indent(line[j])
				if (ni <= si || substr(line[j], ni + 1) !~ /^- /) break
				scalar(trim(substr(line[j], ni + 3)))
				items[++nitems] = val
			}
			if (nitems > 0) print "cc_runcmd " q(argv_line())
			i = j
			continue
		}
		i = item_value(rest, i, si)
		if (key == "runcmd") print "cc_runcmd " q(val)
		else if (val != "") print "cc_ssh_key " q(val)
	}
	return i
}

function write_files(i,   si, s, rest, col, start, path, content, perms, owner, enc, append, k, kv, first) {
	start = seq_start(i)
	if (!start) return i
	i = start
	si = indent(line[i])
	while (i <= N) {
		s = line[i]
		if (blank(s)) { i++; continue }
		if (indent(s) != si || substr(s, si + 1) !~ /^-( |$)/) break
		match(substr(s, si + 1), /^- */)
		col = si + RLENGTH
		path = ""; content = ""; perms = "0644"; owner = "root:root"; enc = ""; append = "false"
		first = 1
		# Each key of this item sits at column col: the first on the dash line.
		while (i <= N) {
			s = line[i]
			if (!first) {
				if (blank(s)) { i++; continue }
				if (indent(s) != col || substr(s, col + 1) ~ /^-( |$)/) break
			}
			kv = substr(s, col + 1)
			first = 0
			if (!match(kv, /^[A-Za-z_]+:( |$)/)) {
				error("cannot read write_files entry at line " i ": " s)
				i++
				continue
			}
			k = substr(kv, 1, RLENGTH)
			sub(/: ?$/, "", k)
			rest = trim(substr(kv, RLENGTH + 1))
			i = item_value(rest, i, col)
			if (k == "path") path = val
			else if (k == "content") content = val
			else if (k == "permissions") perms = val
			else if (k == "owner") owner = val
			else if (k == "encoding") enc = val
			else if (k == "append") append = tolower(val)
		}
		if (path == "") error("write_files entry without a path")
		else print "cc_write_file " q(path) " " q(perms) " " q(owner) " " q(enc) " " q(append) " " q(content)
	}
	return i
}
