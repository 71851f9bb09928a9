#!/usr/bin/env bash
# Prints the path of a python3 that can import matplotlib (the first python3 on PATH may be a
# virtualenv or pyenv without it, while Debian's python3-matplotlib lives under /usr/bin/python3).
for py in "$(command -v python3 || true)" /usr/bin/python3; do
  if [ -n "$py" ] && [ -x "$py" ] && "$py" -c "import matplotlib" 2>/dev/null; then
    echo "$py"
    exit 0
  fi
done
echo "no python3 with matplotlib found (install python3-matplotlib)" >&2
exit 1
