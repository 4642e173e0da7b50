# Renders the shipped keepalived-examples/tcvip.toml for one node of the rehearsal: sets given
# keys, keeping every other line (and comment) of the example as it is.
# Usage: awk -f render-toml.awk SETTINGS TOML TOML
#   SETTINGS: lines "section<TAB>key<TAB>toml-value" ("vip" means the first [[vip]] table).
# Per key: an active "key = ..." line in that section is replaced (a multi-line array value
# included); else the first commented-out "# key = ..." there is; else the key is added at the end
# of the section; a section missing from the file is appended with its keys.

function header_name(line,    h) {
    if (line !~ /^[ \t]*\[\[?[A-Za-z0-9_.-]+\]\]?[ \t]*(#.*)?$/) return ""
    h = line
    sub(/^[ \t]*\[\[?/, "", h)
    sub(/\]\]?.*$/, "", h)
    return h
}

function key_of(line, commented,    k) {
    k = line
    if (commented) { if (k !~ /^[ \t]*#[ \t]*[A-Za-z0-9_-]+[ \t]*=/) return ""; sub(/^[ \t]*#[ \t]*/, "", k) }
    else { if (k !~ /^[ \t]*[A-Za-z0-9_-]+[ \t]*=/) return ""; sub(/^[ \t]*/, "", k) }
    sub(/[ \t]*=.*$/, "", k)
    return k
}

# Emit the keys of SECTION that found no line, at the end of that section.
function flush(section,    i) {
    for (i = 1; i <= n; i++)
        if (sec[i] == section && !(i in written)) { print key[i] " = " val[i]; written[i] = 1 }
}

FNR == 1 { pass++ }

# Pass 0: the settings.
pass == 1 {
    split($0, f, "\t")
    n++; sec[n] = f[1]; key[n] = f[2]; val[n] = f[3]
    want[f[1] SUBSEP f[2]] = n
    next
}

# Pass 1: which keys have an active line, which a commented one; which sections exist.
pass == 2 {
    h = header_name($0)
    if (h != "") { cur = h; seen_sec[h]++; next }
    if (seen_sec[cur] > 1) next
    k = key_of($0, 0)
    if (k != "" && ((cur SUBSEP k) in want)) active[want[cur SUBSEP k]] = 1
    k = key_of($0, 1)
    if (k != "" && ((cur SUBSEP k) in want)) commented[want[cur SUBSEP k]] = 1
    next
}

# Pass 2: write. Blank lines are held back so that added keys stay inside their section.
{
    if (skipping) { if ($0 ~ /\][ \t]*(#.*)?$/) skipping = 0; next }
    if ($0 ~ /^[ \t]*$/) { blanks++; next }
    h = header_name($0)
    if (h != "") {
        if (cur2 != "" && count2[cur2] == 1) flush(cur2)
        cur2 = h; count2[h]++
        put_blanks()
        print
        next
    }
    put_blanks()
    if (count2[cur2] <= 1) {
        k = key_of($0, 0)
        if (k != "" && ((cur2 SUBSEP k) in want)) {
            i = want[cur2 SUBSEP k]
            if (!(i in written)) {
                print key[i] " = " val[i]; written[i] = 1
                rest = $0; sub(/^[^=]*=[ \t]*/, "", rest)
                if (rest ~ /^\[/ && rest !~ /\][ \t]*(#.*)?$/) skipping = 1
            }
            next
        }
        k = key_of($0, 1)
        if (k != "" && ((cur2 SUBSEP k) in want)) {
            i = want[cur2 SUBSEP k]
            if (!(i in active) && !(i in written)) { print key[i] " = " val[i]; written[i] = 1; next }
        }
    }
    print
}

function put_blanks() { while (blanks > 0) { print ""; blanks-- } }

END {
    if (cur2 != "" && count2[cur2] == 1) flush(cur2)
    put_blanks()
    for (i = 1; i <= n; i++) {
        if (i in written) continue
        if (!(sec[i] in added)) { print ""; print (sec[i] == "vip" ? "[[vip]]" : "[" sec[i] "]"); added[sec[i]] = 1 }
        print key[i] " = " val[i]; written[i] = 1
        for (j = i + 1; j <= n; j++) if (sec[j] == sec[i] && !(j in written)) { print key[j] " = " val[j]; written[j] = 1 }
    }
}
