# Renders a shipped keepalived-examples/keepalived-*.conf for one node of the rehearsal.
# Changes only values, never structure, so the rendered file is the shipped one with this node's
# facts in it. Variables (awk -v): bin_dir, router_id, src_ip, peers (space-separated), vip,
# priority (empty: keep), fifo (the vrrp_notify_fifo path; empty: keep), example_bin_dir (the
# directory the example names: default /usr/local/bin, as in keepalived-examples/; /usr/bin in
# the packages' copies). Fails (exit 3) when a line it must change is missing from the example.

function setval(key, val,    pre) {
    # Replace the first value after KEY, keeping indentation and any trailing comment.
    if (match($0, "^[ \t]*" key "[ \t]+[^ \t#]+")) {
        pre = substr($0, 1, RSTART + RLENGTH - 1)
        sub("[^ \t]+$", "", pre)
        $0 = pre val substr($0, RSTART + RLENGTH)
        return 1
    }
    return 0
}

BEGIN {
    block = ""
    n_peers = split(peers, peer_list, " ")
    if (example_bin_dir == "") example_bin_dir = "/usr/local/bin"
    quoted_bin_dir = "\"" example_bin_dir "/"
}

# Inside a block: unicast_peer lists peers, virtual_ipaddress lists the VIP.
block == "unicast_peer" && /^[ \t]*}/ {
    for (i = 1; i <= n_peers; i++) printf "%s%s\n", peer_indent, peer_list[i]
    done["peers"] = 1
    block = ""
    print
    next
}
block == "unicast_peer" {
    # Drop the example's peer lines; remember their indentation.
    if (match($0, /^[ \t]*/) && peer_indent == "") peer_indent = substr($0, 1, RLENGTH)
    next
}
block == "virtual_ipaddress" && /^[ \t]*}/ { block = ""; print; next }
block == "virtual_ipaddress" {
    if (sub(/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/, vip)) done["vip"] = 1
    print
    next
}

/^[ \t]*unicast_peer[ \t]*{/ { block = "unicast_peer"; print; next }
/^[ \t]*virtual_ipaddress[ \t]*{/ { block = "virtual_ipaddress"; print; next }

/^[ \t]*router_id[ \t]/ { if (setval("router_id", router_id)) done["router_id"] = 1 }
/^[ \t]*unicast_src_ip[ \t]/ { if (setval("unicast_src_ip", src_ip)) done["src_ip"] = 1 }
/^[ \t]*priority[ \t]/ && priority != "" { if (setval("priority", priority)) done["priority"] = 1 }
/^[ \t]*vrrp_notify_fifo[ \t]/ && fifo != "" { if (setval("vrrp_notify_fifo", fifo)) done["fifo"] = 1 }
/^[ \t]*(script|notify|notify_[a-z_]+|vrrp_notify_fifo_script)[ \t]+"/ && (i = index($0, quoted_bin_dir)) {
    $0 = substr($0, 1, i - 1) "\"" bin_dir "/" substr($0, i + length(quoted_bin_dir))
    done["bin_dir"]++
}

{ print }

END {
    split("router_id src_ip peers vip bin_dir", need, " ")
    for (k in need) if (!(need[k] in done)) { printf "render: no %s line to change\n", need[k] > "/dev/stderr"; exit 3 }
    if (priority != "" && !("priority" in done)) { print "render: no priority line" > "/dev/stderr"; exit 3 }
    if (fifo != "" && !("fifo" in done)) { print "render: no vrrp_notify_fifo line" > "/dev/stderr"; exit 3 }
}
