#!/usr/bin/env bash
# Commit the built book's notebook mirrors (notebooks/*.ipynb, outputs stripped) to the branch
# "ipynb", where the Colab buttons look for them, and push it when there is a remote "origin".
# Run after `make book`; `make mirrors` runs both.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls _build/html/notebooks/*.ipynb >/dev/null 2>&1; then
    echo "no notebook mirrors in _build/html/notebooks: run 'make book' first" >&2
    exit 1
fi
work=$(mktemp -d)
cleanup() { git worktree remove --force "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if git show-ref --quiet refs/heads/ipynb; then
    git worktree add --quiet "$work" ipynb
else
    git worktree add --quiet --detach "$work"
    git -C "$work" checkout --quiet --orphan ipynb
    git -C "$work" rm -r --quiet --force .
fi
mkdir -p "$work/notebooks"
cp _build/html/notebooks/*.ipynb "$work/notebooks/"
git -C "$work" add notebooks
git -C "$work" commit --quiet -m "Notebook mirrors of the chapters at $(git rev-parse --short HEAD)" || echo "the mirrors are unchanged"
if git remote get-url origin >/dev/null 2>&1; then
    git push origin ipynb
else
    echo "committed to the local branch ipynb; there is no remote 'origin' to push it to"
fi
