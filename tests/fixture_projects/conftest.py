# The projects here are copied to a temporary directory by the tests that use them,
# and collected there with their own ini files; this suite must not collect them.
collect_ignore_glob = ["*"]
