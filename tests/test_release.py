"""The package's version lives in one place, and publishing tags it once."""

import shutil
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import deepissues

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_written_once_and_the_installed_metadata_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "deepissues.__version__"}
    assert version("deepissues") == deepissues.__version__


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _repo(tmp_path, version_text):
    repo = tmp_path / "book"
    (repo / "tools").mkdir(parents=True)
    (repo / "lib" / "deepissues").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "tag_release.sh", repo / "tools")
    (repo / "lib" / "deepissues" / "__init__.py").write_text(f'__version__ = "{version_text}"\n')
    _git(repo, "init", "--quiet")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "first")
    return repo


def _publish(repo):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", str(repo / "tools" / "tag_release.sh")], capture_output=True, text=True, env=env)


def test_publishing_tags_the_version_once_and_refuses_to_reuse_it(tmp_path):
    repo = _repo(tmp_path, "2.3.4")
    first = _publish(repo)
    assert first.returncode == 0, first.stderr
    assert _git(repo, "rev-parse", "v2.3.4^{commit}") == _git(repo, "rev-parse", "HEAD")
    assert _publish(repo).returncode == 0          # the same commit again: nothing to do
    (repo / "notes.txt").write_text("a change")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "second")
    reused = _publish(repo)
    assert reused.returncode == 1 and "already published as v2.3.4" in reused.stderr
    # after a bump the new commit gets its own tag
    (repo / "lib" / "deepissues" / "__init__.py").write_text('__version__ = "2.3.5"\n')
    dirty = _publish(repo)
    assert dirty.returncode == 1 and "uncommitted changes" in dirty.stderr
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "bump")
    assert _publish(repo).returncode == 0
    assert _git(repo, "rev-parse", "v2.3.5^{commit}") == _git(repo, "rev-parse", "HEAD")
