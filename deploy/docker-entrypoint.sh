#!/bin/sh
# Entry point of the idres image: the arguments are an idres command (serve by default).
#   docker run IMAGE                      -> idres serve               (the node in /var/lib/idres, IDRES_DIR)
#   docker run IMAGE init --prefix ...    -> idres init --prefix ...
#   docker run IMAGE idres status         -> idres status              (a leading "idres" is allowed)
#   docker run IMAGE sh                   -> a shell (also bash, node, or any absolute path)
# exec, so that idres is the process that gets docker stop's SIGTERM.
set -e
if [ "$#" -eq 0 ]; then
  set -- serve
fi
case "$1" in
  idres) shift ;;
  sh | bash | node | /*) exec "$@" ;;
esac
exec idres "$@"
