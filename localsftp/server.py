"""A real OpenSSH sshd on loopback for the demo and the tests: one chrooted account per
provider (inbox/, outbox/), key authentication only, internal-sftp only. Never exposed beyond
127.0.0.1; started and stopped by process id.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import yaml

SSHD = "/usr/sbin/sshd"
# Chroot paths must be root-owned and not group/world-writable all the way up, so not /tmp.
CHROOT_ROOT = Path("/srv/rollcall-sftp")


def sftp_available() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh-keygen") is not None and os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)


# Demo and test accounts carry a prefix no real account uses and a comment that marks them, so
# they can never clash with (or change) an account somebody else made on the same host.
USER_PREFIX = "rcdemo_"
ACCOUNT_COMMENT = "Rollcall demo/test SFTP account"


RECEIPTS_USER = USER_PREFIX + "receipts"  # writes every provider's receipts; providers may only read them


def user_for(account: str) -> str:
    return USER_PREFIX + account.lower()


def _children(pid: int) -> list[int]:
    """Process ids whose parent is pid (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


class OpenSshServer:
    def __init__(self, name: str, workdir: Path, port: int | None = None):
        self.root = CHROOT_ROOT / name  # chroot homes and authorised keys (root-owned)
        self.workdir = Path(workdir)  # client keys, known_hosts, config for the register
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.accounts: dict[str, str] = {}

    @property
    def host_key(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def register_key(self) -> Path:
        return self.workdir / "register_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    def provider_key(self, account: str) -> Path:
        return self.workdir / f"provider_{account}_ed25519"

    def home(self, account: str) -> Path:
        return self.root / "homes" / user_for(account)

    def prepare(self) -> None:
        for d in (CHROOT_ROOT, self.root, self.root / "homes", self.root / "keys"):
            d.mkdir(mode=0o755, exist_ok=True)
            os.chown(d, 0, 0)
            os.chmod(d, 0o755)
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _keygen(self.host_key)
        _keygen(self.register_key)
        self.write_known_hosts()
        (self.root / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile {self.root / 'sshd.pid'}
AuthorizedKeysFile {self.root / 'keys'}/%u
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {USER_PREFIX}*
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
PermitTunnel no
MaxStartups 100:30:200
LogLevel ERROR
Subsystem sftp internal-sftp
# Files made over SFTP get modes of their own, whatever the umask of the process that started sshd
# (Rollcall's are owner-only): a receipt is readable by its provider (whose outbox folder alone
# lets them reach it), an upload by the collector.
Match User {RECEIPTS_USER}
    ChrootDirectory {self.root / 'homes'}
    ForceCommand internal-sftp -u 0022
Match User {USER_PREFIX}*
    ChrootDirectory {self.root / 'homes'}/%u
    ForceCommand internal-sftp -u 0022
""")

    def write_known_hosts(self, key_file: Path | None = None) -> None:
        pub = (Path(str(key_file or self.host_key) + ".pub")).read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")

    @staticmethod
    def _system_user(user: str) -> pwd.struct_passwd:
        """Our own demo/test account, made if missing; never one somebody else made."""
        try:
            existing = pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--home-dir", "/", "--shell", "/usr/sbin/nologin",
                            "--comment", ACCOUNT_COMMENT, user], check=True)
        else:
            if existing.pw_gecos != ACCOUNT_COMMENT:
                raise RuntimeError(f"a system account {user} exists that Rollcall did not make; refusing to use it")
        subprocess.run(["usermod", "-p", "*", user], check=True)  # unlock for key login, no password
        return pwd.getpwnam(user)

    def add_account(self, account: str) -> str:
        user = user_for(account)
        me = self._system_user(user)
        receipts = self._system_user(RECEIPTS_USER)
        keys = self.root / "keys" / RECEIPTS_USER
        keys.write_text(Path(str(self.register_key) + ".pub").read_text())
        os.chmod(keys, 0o644)
        uid, gid = me.pw_uid, me.pw_gid
        home = self.home(account)
        home.mkdir(mode=0o755, exist_ok=True)
        os.chown(home, 0, 0)
        os.chmod(home, 0o755)  # whatever the umask (Rollcall's own processes run owner-only)
        (home / "inbox").mkdir(exist_ok=True)
        os.chown(home / "inbox", uid, gid)
        os.chmod(home / "inbox", 0o750)
        # The outbox belongs to the receipts account; the provider's group may list and read it,
        # never write, rename or delete in it: receipts are the register's record.
        (home / "outbox").mkdir(exist_ok=True)
        os.chown(home / "outbox", receipts.pw_uid, gid)
        os.chmod(home / "outbox", 0o750)
        key = self.provider_key(account)
        _keygen(key)
        keys = self.root / "keys" / user
        keys.write_text(Path(str(key) + ".pub").read_text() + Path(str(self.register_key) + ".pub").read_text())
        os.chmod(keys, 0o644)
        self.accounts[account] = user
        return user

    def start(self) -> None:
        self.prepare()
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.workdir / "sshd.log", "ab"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited at start; see {self.workdir / 'sshd.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sshd did not start listening in 15 seconds")

    @property
    def listener_pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def stop(self) -> None:
        for account in self.accounts:
            self.kill_sessions(account)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill_sessions(self, account: str) -> int:
        """Cut every live session of one account: the per-connection processes this server's
        own sshd forked (by process id; never another sshd's sessions)."""
        if self.listener_pid is None:
            return 0
        user, killed = user_for(account), 0
        for session in _children(self.listener_pid):
            if user not in _cmdline(session):
                continue
            family, todo = [], [session]
            while todo:  # the session's monitor, its privilege-separated child and the sftp server
                pid = todo.pop()
                family.append(pid)
                todo += _children(pid)
            for pid in family:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed += 1
        return killed

    def register_config(self, path: Path | None = None, accounts: list[str] | None = None) -> Path:
        path = path or self.workdir / "sftp.yaml"
        path.write_text(yaml.safe_dump({
            "defaults": {"host": "127.0.0.1", "port": self.port, "key_path": str(self.register_key),
                         "known_hosts": str(self.known_hosts)},
            "providers": [{"provider": a, "user": user_for(a), "receipts_user": RECEIPTS_USER,
                           "receipts_outbox": f"/{user_for(a)}/outbox"}
                          for a in (accounts or sorted(self.accounts))]}))
        return path

    def provider_client(self, account: str, user: str | None = None) -> paramiko.SFTPClient:
        """An SFTP session as the provider would open it (their own key)."""
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", port=self.port, username=user or user_for(account),
                       key_filename=str(self.provider_key(account)), allow_agent=False, look_for_keys=False,
                       timeout=10)
        sftp = client.open_sftp()
        sftp._owner = client  # keep the transport alive as long as the SFTP session
        return sftp

    def upload(self, account: str, local: Path) -> None:
        """Upload an extract as a provider must: the CSV first, its sidecar last."""
        sftp = self.provider_client(account)
        try:
            sftp.put(str(local), f"inbox/{local.name}")
            sidecar = local.with_name(local.name + ".sha256")
            if sidecar.exists():
                sftp.put(str(sidecar), f"inbox/{sidecar.name}")
        finally:
            sftp._owner.close()

    def remove_tree(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def remove_accounts(self) -> list[str]:
        """Delete the system accounts this server made (marked by their comment; never one
        somebody else made). The shared receipts account goes only when no other server's
        chroot tree is left that could still use it."""
        users = sorted(set(self.accounts.values()))
        others = [p for p in CHROOT_ROOT.iterdir() if p != self.root] if CHROOT_ROOT.exists() else []
        if not others:
            users.append(RECEIPTS_USER)
        removed = []
        for user in users:
            try:
                if pwd.getpwnam(user).pw_gecos != ACCOUNT_COMMENT:
                    continue
            except KeyError:
                continue
            subprocess.run(["userdel", user], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            removed.append(user)
        self.accounts.clear()
        return removed

    def clean_up(self) -> list[str]:
        """Stop, delete the accounts, remove the chroot tree: everything this server made."""
        self.stop()
        self.remove_tree()
        return self.remove_accounts()


class DemoSftpServer(OpenSshServer):
    """The demo's server: every provider folder of a landing tree becomes an SFTP account."""

    def __init__(self, workdir: Path, port: int | None = None):
        name = "demo-" + hashlib.sha256(str(Path(workdir).resolve()).encode()).hexdigest()[:8]
        super().__init__(name, workdir, port)

    def try_it_text(self, config: Path) -> str:
        """How a newcomer delivers a first extract with the stock OpenSSH sftp client."""
        lines = [f"A local SFTP server is listening on 127.0.0.1:{self.port}, one chrooted account per provider.",
                 f"Rollcall collects with: rollcall run --sftp {config} --db <register> --archive <folder>", ""]
        for account, user in sorted(self.accounts.items()):
            lines += [f"provider {account}: account {user}, key {self.provider_key(account)}",
                      f"  sftp -P {self.port} -i {self.provider_key(account)} -o UserKnownHostsFile={self.known_hosts} "
                      f"-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes {user}@127.0.0.1"]
        lines += ["", "In the sftp session: put the CSV, then its checksum sidecar, then read the receipt:",
                  "  put school_<provider>_<YYYYMMDD>.csv inbox/", "  put school_<provider>_<YYYYMMDD>.csv.sha256 inbox/",
                  "  ls outbox", "  get outbox/school_<provider>_<YYYYMMDD>.csv.receipt.json",
                  "(make the sidecar with: sha256sum school_<provider>_<YYYYMMDD>.csv > "
                  "school_<provider>_<YYYYMMDD>.csv.sha256)"]
        return "\n".join(lines)

    def deliver_from(self, landing: Path) -> Path:
        accounts = sorted(p.name for p in landing.iterdir() if (p / "inbox").is_dir())
        for account in accounts:
            self.add_account(account)
            for csv_file in sorted((landing / account / "inbox").glob("*.csv")):
                self.upload(account, csv_file)
                # Delivered: the server holds it now, as a provider's upload would leave it.
                csv_file.with_name(csv_file.name + ".sha256").unlink(missing_ok=True)
                csv_file.unlink()
        return self.register_config(accounts=accounts)
