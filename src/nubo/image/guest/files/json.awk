# Flatten a JSON document into "path<TAB>value" lines, one per scalar.
#
# The tiny guest has no JSON parser, and meta_data.json is all it must read,
# so this is a small recursive-descent parser in POSIX awk (busybox awk and
# mawk both run it). Object keys and array indexes join with ".":
#   {"uuid": "x", "public_keys": {"k": "ssh-ed25519 AAAA\n"}, "keys": [{"a": 1}]}
# prints
#   uuid<TAB>x
#   public_keys.k<TAB>ssh-ed25519 AAAA
#   keys.0.a<TAB>1
# A string holding newlines prints one line per non-empty line, under the same
# path, so a value carrying several SSH keys yields one record per key.
# Exit status 1 on malformed input.

{ src = src $0 "\n" }

END {
	n = length(src)
	pos = 1
	if (!value("")) { fail() }
	ws()
	if (pos <= n) { fail() }
}

function fail() {
	printf "json.awk: malformed JSON near byte %d\n", pos > "/dev/stderr"
	exit 1
}

function ws(   c) {
	while (pos <= n) {
		c = substr(src, pos, 1)
		if (c != " " && c != "\t" && c != "\n" && c != "\r") break
		pos++
	}
}

function join(path, key) {
	return path == "" ? key : path "." key
}

function emit(path, v,   parts, count, i) {
	if (v == "") { print path "\t"; return }
	count = split(v, parts, "\n")
	for (i = 1; i <= count; i++) {
		sub(/\r$/, "", parts[i])
		if (parts[i] != "") print path "\t" parts[i]
	}
}

function value(path,   c, lit) {
	ws()
	c = substr(src, pos, 1)
	if (c == "{") return object(path)
	if (c == "[") return array(path)
	if (c == "\"") {
		if (!string()) return 0
		emit(path, str)
		return 1
	}
	lit = substr(src, pos, 64)
	if (match(lit, /^(-?[0-9][0-9.eE+-]*|true|false|null)/)) {
		emit(path, substr(lit, 1, RLENGTH))
		pos += RLENGTH
		return 1
	}
	return 0
}

function object(path,   key, c) {
	pos++
	ws()
	if (substr(src, pos, 1) == "}") { pos++; return 1 }
	while (1) {
		ws()
		if (substr(src, pos, 1) != "\"" || !string()) return 0
		key = str
		ws()
		if (substr(src, pos, 1) != ":") return 0
		pos++
		if (!value(join(path, key))) return 0
		ws()
		c = substr(src, pos, 1)
		pos++
		if (c == "}") return 1
		if (c != ",") return 0
	}
}

function array(path,   i, c) {
	pos++
	ws()
	if (substr(src, pos, 1) == "]") { pos++; return 1 }
	for (i = 0; ; i++) {
		if (!value(join(path, i))) return 0
		ws()
		c = substr(src, pos, 1)
		pos++
		if (c == "]") return 1
		if (c != ",") return 0
	}
}

# Parse the string starting at pos (on its opening quote) into the global str.
function string(   c, e, chunk) {
	str = ""
	pos++
	while (pos <= n) {
		chunk = substr(src, pos)
		# Copy the run of plain characters in one step.
		if (match(chunk, /^[^"\\]+/)) {
			str = str substr(chunk, 1, RLENGTH)
			pos += RLENGTH
			continue
		}
		c = substr(src, pos, 1)
		if (c == "\"") { pos++; return 1 }
		e = substr(src, pos + 1, 1)
		pos += 2
		if (e == "n") str = str "\n"
		else if (e == "t") str = str "\t"
		else if (e == "r") str = str "\r"
		else if (e == "b") str = str "\b"
		else if (e == "f") str = str "\f"
		else if (e == "u") { str = str utf8(hex(substr(src, pos, 4))); pos += 4 }
		else if (e == "\"" || e == "\\" || e == "/") str = str e
		else return 0
	}
	return 0
}

function hex(s,   i, v, d) {
	v = 0
	s = tolower(s)
	for (i = 1; i <= length(s); i++) {
		d = index("0123456789abcdef", substr(s, i, 1))
		if (d == 0) return 63
		v = v * 16 + d - 1
	}
	return v
}

# Encode a code point as UTF-8; surrogate halves become "?" (keys, host
# names and ids never need them).
function utf8(cp) {
	if (cp < 128) return sprintf("%c", cp)
	if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
	if (cp >= 55296 && cp < 57344) return "?"
	return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
}
