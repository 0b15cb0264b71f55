# `make help`: targets with their `## text` ($(VAR) expanded), aligned; colour only on a terminal.
BEGIN { FS = ":.*## "; n = split(names, vars, " ") }
/^[a-zA-Z_-]+:.*## / {
  text = $2
  for (i = 1; i <= n; i++) gsub("\\$\\(" vars[i] "\\)", ENVIRON[vars[i]], text)
  target[++count] = $1; help[count] = text
  if (length($1) > width) width = length($1)
}
END {
  on = tty ? "\033[36m" : ""; off = tty ? "\033[0m" : ""
  print "targets:"
  for (i = 1; i <= count; i++) printf "  %s%-*s%s  %s\n", on, width, target[i], off, help[i]
  print "variables (make tune TASK=imdb TRIALS=20 …):"
  for (i = 1; i <= n; i++) printf "  %-*s = %s\n", width, vars[i], ENVIRON[vars[i]]
  printf "  %-*s = %s\n", width, "STORAGE", "(from the environment or STORAGE=; never printed)"
}
