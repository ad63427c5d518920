#!/usr/bin/env bash
# Tag the commit being published with the package's version, v<__version__>, the tag that the
# notebooks' install cell pins. A version is published once: if its tag already names another
# commit, stop and ask for a new version. Pushes the tag when there is a remote "origin".
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' lib/deepissues/__init__.py)
if [ -z "$version" ]; then
    echo "no __version__ = \"...\" line in lib/deepissues/__init__.py" >&2
    exit 1
fi
tag="v$version"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "the working tree has uncommitted changes: commit them before publishing $tag" >&2
    exit 1
fi
head=$(git rev-parse HEAD)
existing=$(git rev-parse -q --verify "refs/tags/$tag^{commit}" || true)
if [ -z "$existing" ] && git remote get-url origin >/dev/null 2>&1; then
    remote=$(git ls-remote --tags origin "refs/tags/$tag" "refs/tags/$tag^{}")
    # an annotated tag is listed twice; its peeled line (^{}) names the commit
    existing=$( (grep -F "^{}" <<<"$remote" || echo "$remote") | head -n 1 | cut -f 1)
fi
if [ -n "$existing" ] && [ "$existing" != "$head" ]; then
    echo "version $version is already published as $tag (commit ${existing:0:12}); this is commit ${head:0:12}." >&2
    echo "Raise __version__ in lib/deepissues/__init__.py, commit, and publish again." >&2
    exit 1
fi
if [ -z "$existing" ]; then
    git tag -a "$tag" -m "deepissues $version"
    echo "tagged $tag"
fi
if git remote get-url origin >/dev/null 2>&1; then
    git push origin "$tag"
fi
