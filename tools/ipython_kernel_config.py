# make copies this file to .venv/etc/ipython/, where every IPython kernel started from the
# project's environment reads it: the kernels of the book build and of the notebook tests.
# It drops one log line. ipykernel warns that a kernel talks to its client over TCP without
# encryption; here both ends are on this machine, started by the build, and every chapter's log
# would repeat the warning.
import logging


class _NoTcpEncryptionWarning(logging.Filter):
    def filter(self, record):
        return "running over TCP without encryption" not in record.getMessage()


logging.getLogger("IPKernelApp").addFilter(_NoTcpEncryptionWarning())
