# Post-processes a subcommand page of swift-argument-parser's generate-manual (make generated) so
# that man-db's whatis/apropos can index it: the NAME section says `.Nm "boot-health status"`,
# which lexgrog cannot parse (lintian: bad-whatis-entry). It becomes the page's own name,
# `boot-health.status` (what `man boot-health.status` opens), and each bare `.Nm` elsewhere (which
# would now repeat that) names the command as typed, `boot-health status`, so the SYNOPSIS is
# unchanged. Top-level pages (`.Nm boot-health`) pass through as they are.
orig == "" && /^\.Nm "/ {
    orig = substr($0, 5)
    name = orig
    gsub(/"/, "", name)
    gsub(/ /, ".", name)
    print ".Nm " name
    next
}
/^\.Nm$/ && orig != "" { print ".Nm " orig; next }
{ print }
