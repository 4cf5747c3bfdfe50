#!/usr/bin/python3
"""A stand-in for the OBS source and repository servers, for a real bs_worker on loopback.

    obs_standin.py DATA [--port N]

Serves on 127.0.0.1 only (port 0 lets the kernel choose) and prints
`listening on http://127.0.0.1:PORT` as its first line. Everything it serves comes from
DATA, and everything the worker sends it is recorded there:

    sources/PROJECT/PACKAGE/FILE        a package's sources (flat). Their srcmd5 is OBS's:
                                        the md5 of the "MD5  NAME" lines of the sorted files.
    config/PROJECT/REPOSITORY           a project config (/getconfig); missing is empty
    binaries/PROJECT/REPOSITORY/ARCH/   the repository's .debs and .rpms (files or links),
                                        known by file name: NAME_VERSION_ARCH.deb,
                                        NAME-VERSION-RELEASE.ARCH.rpm
    build/PROJECT/REPOSITORY/ARCH/PACKAGE/
                                        the last succeeded result of a package (old
                                        packages, /build/…?view=cpio); /putjob fills it
    putjob/N/query.json, putjob/N/files/  each upload, N = 1, 2, …
    worker.log                          the worker's state reports (/worker), one per line

Endpoints, with the query parameters bs_worker sends:

    GET  /getsources?project&package&srcmd5     newc cpio of the sources
    GET  /source/PROJECT/PACKAGE                <directory srcmd5=…> with the entries
    GET  /source/PROJECT/PACKAGE/FILE[?rev]     one source file (the dispatcher and
                                                `obsbox hostcheck` read _constraints so)
    GET  /getconfig?project&repository[&path…] the project config text
    GET  /getbinaries?project&repository&arch&binaries=A,B
                                                newc cpio of NAME.deb / NAME.rpm; names the
                                                repository lacks are listed in `.errors`
    GET  /getbinaryversions?project&repository&arch&binaries=A,B[&nometa]
                                                <binaryversionlist> (hdrmd5 by obs-build's
                                                own Build::queryhdrmd5)
    GET  /build/PROJECT/REPOSITORY/ARCH/PACKAGE?view=cpio
                                                the old packages (an empty cpio if none)
    POST /putjob?job&arch&jobid&code&now[&workerid]
                                                the worker's result (cpio, chunked or not)
    GET|POST /worker?state&arch&port[&workerid] state reports
    POST /workerdispatched                      accepted

A job name has OBS's form PROJECT::REPOSITORY::PACKAGE-SRCMD5; a succeeded upload's
packages become that package's old packages.
"""

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
import xml.sax.saxutils

PACKAGE_SUFFIXES = (".deb", ".rpm")


def xml_attr(value):
    return xml.sax.saxutils.quoteattr(str(value))


def file_md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_entries(directory):
    """The sorted (name, md5, size, mtime) of a source directory's regular files."""
    entries = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            st = os.stat(path)
            entries.append((name, file_md5(path), st.st_size, int(st.st_mtime)))
    return entries


def srcmd5(entries):
    return hashlib.md5("".join(f"{md5}  {name}\n" for name, md5, _, _ in entries).encode()).hexdigest()


def package_name(filename):
    """The package name in a Debian or RPM file name, or None."""
    if filename.endswith(".deb"):
        return filename.split("_", 1)[0]
    if filename.endswith(".rpm"):
        parts = filename[: -len(".rpm")].rsplit(".", 1)[0].rsplit("-", 2)
        return parts[0] if len(parts) == 3 else None
    return None


def cpio_header(name, size, mtime, mode=0o100644):
    encoded = name.encode() + b"\0"
    fields = [0, mode, 0, 0, 1, mtime, size, 0, 0, 0, 0, len(encoded), 0]
    head = b"070701" + b"".join(b"%08x" % f for f in fields) + encoded
    return head + b"\0" * (-len(head) % 4)


CPIO_TRAILER = cpio_header("TRAILER!!!", 0, 0, mode=0)


class Cpio:
    """A newc cpio of (name, path or bytes) members, with its length known up front."""

    def __init__(self, members):
        self.members = []
        for name, content in members:
            if isinstance(content, bytes):
                size, mtime = len(content), 0
            else:
                st = os.stat(content)
                size, mtime = st.st_size, int(st.st_mtime)
            self.members.append((name, content, size, mtime))

    def length(self):
        total = len(CPIO_TRAILER)
        for name, _, size, mtime in self.members:
            total += len(cpio_header(name, size, mtime)) + size + (-size % 4)
        return total

    def write(self, out):
        for name, content, size, mtime in self.members:
            out.write(cpio_header(name, size, mtime))
            if isinstance(content, bytes):
                out.write(content)
            else:
                with open(content, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            out.write(b"\0" * (-size % 4))
        out.write(CPIO_TRAILER)


def read_cpio(stream, directory):
    """Unpacks a newc cpio (with OBS's size extension) into directory; returns the names."""
    names = []

    def read(n):
        data = stream.read(n)
        if len(data) != n:
            raise ValueError("cpio: truncated")
        return data

    while True:
        head = read(110)
        if head[:6] != b"070701":
            raise ValueError("cpio: not a newc archive")
        size = int(head[54:62], 16)
        if size == 0xFFFFFFFF:
            ext = read(16)
            size = int(ext[:8], 16) * (1 << 32) + int(ext[8:], 16)
            head = head + ext
        namesize = int(head[94:102], 16)
        name = read(namesize + (-(len(head) + namesize) % 4))[: namesize - 1].decode()
        if name == "TRAILER!!!" and size == 0:
            return names
        if "/" in name or name in (".", ".."):
            raise ValueError(f"cpio: bad member name {name!r}")
        with open(os.path.join(directory, name), "wb") as f:
            left = size
            while left:
                chunk = read(min(left, 1 << 20))
                f.write(chunk)
                left -= len(chunk)
        read(-size % 4)
        names.append(name)


class Chunked(io.RawIOBase):
    """A reader of an HTTP/1.1 chunked request body."""

    def __init__(self, raw):
        self.raw = raw
        self.left = 0
        self.done = False

    def readable(self):
        return True

    def readinto(self, buf):
        if self.done:
            return 0
        if self.left == 0:
            line = self.raw.readline().strip()
            self.left = int(line.split(b";")[0], 16)
            if self.left == 0:
                while self.raw.readline().strip():
                    pass
                self.done = True
                return 0
        data = self.raw.read(min(len(buf), self.left))
        buf[: len(data)] = data
        self.left -= len(data)
        if self.left == 0:
            self.raw.readline()
        return len(data)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "obs-standin/1"
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        sys.stderr.write("obs-standin: " + (fmt % args) + "\n")

    @property
    def data(self):
        return self.server.data

    def query(self):
        url = urllib.parse.urlsplit(self.path)
        return urllib.parse.unquote(url.path), urllib.parse.parse_qs(url.query, keep_blank_values=True)

    def one(self, q, key):
        values = q.get(key)
        if not values:
            raise KeyError(key)
        return values[0]

    def reply(self, code, body, content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, text):
        self.reply(code, f'<status code="{code}">\n  <summary>{xml.sax.saxutils.escape(text)}</summary>\n</status>\n',
                   "text/xml")

    def reply_cpio(self, members):
        archive = Cpio(members)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-cpio")
        self.send_header("Content-Length", str(archive.length()))
        self.end_headers()
        archive.write(self.wfile)

    def safe(self, *parts):
        for part in parts:
            if not part or "/" in part or part in (".", ".."):
                raise ValueError(f"bad name {part!r}")
        return os.path.join(self.data, *parts)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def dispatch(self, method):
        path, q = self.query()
        try:
            if path == "/getsources":
                return self.getsources(q)
            if path == "/getconfig":
                return self.getconfig(q)
            if path == "/getbinaries":
                return self.getbinaries(q)
            if path == "/getbinaryversions":
                return self.getbinaryversions(q)
            if path.startswith("/source/"):
                return self.source(path.split("/")[2:], q)
            if path.startswith("/build/"):
                return self.oldpackages(path.split("/")[2:], q)
            if path == "/putjob" and method == "POST":
                return self.putjob(q)
            if path == "/worker":
                return self.worker(method, q)
            if path == "/workerdispatched":
                self.body()
                return self.reply(200, '<status code="ok" />\n', "text/xml")
            return self.error(404, f"no such endpoint: {method} {path}")
        except KeyError as e:
            return self.error(400, f"missing parameter {e.args[0]}")
        except (ValueError, OSError) as e:
            return self.error(400, str(e))

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return io.BufferedReader(Chunked(self.rfile))
        return io.BytesIO(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def getsources(self, q):
        directory = self.safe("sources", self.one(q, "project"), self.one(q, "package"))
        if not os.path.isdir(directory):
            return self.error(404, "package does not exist")
        entries = source_entries(directory)
        if self.one(q, "srcmd5") != srcmd5(entries):
            return self.error(404, f"no sources with srcmd5 {self.one(q, 'srcmd5')}")
        self.reply_cpio([(name, os.path.join(directory, name)) for name, _, _, _ in entries])

    def source(self, parts, q):
        if len(parts) == 2:
            directory = self.safe("sources", *parts)
            if not os.path.isdir(directory):
                return self.error(404, "package does not exist")
            entries = source_entries(directory)
            lines = [f'<directory name={xml_attr(parts[1])} srcmd5="{srcmd5(entries)}">']
            for name, md5, size, mtime in entries:
                lines.append(f'  <entry name={xml_attr(name)} md5="{md5}" size="{size}" mtime="{mtime}"/>')
            lines.append("</directory>\n")
            return self.reply(200, "\n".join(lines), "text/xml")
        if len(parts) == 3:
            directory = self.safe("sources", parts[0], parts[1])
            rev = q.get("rev", [None])[0]
            if rev and os.path.isdir(directory) and rev != srcmd5(source_entries(directory)):
                return self.error(404, f"no revision {rev}")
            path = self.safe("sources", *parts)
            if not os.path.isfile(path):
                return self.error(404, f"{parts[2]}: no such file")
            with open(path, "rb") as f:
                return self.reply(200, f.read(), "application/octet-stream")
        return self.error(404, "no such source path")

    def getconfig(self, q):
        path = self.safe("config", self.one(q, "project"), self.one(q, "repository"))
        text = b""
        if os.path.isfile(path):
            with open(path, "rb") as f:
                text = f.read()
        self.reply(200, text)

    def binaries(self, q):
        """name -> path of the repository's packages."""
        directory = self.safe("binaries", self.one(q, "project"), self.one(q, "repository"), self.one(q, "arch"))
        if not os.path.isdir(directory):
            raise FileNotFoundError(directory)
        found = {}
        for filename in sorted(os.listdir(directory)):
            name = package_name(filename)
            if name and name not in found:
                found[name] = os.path.join(directory, filename)
        return found

    def wanted(self, q):
        return [b for b in self.one(q, "binaries").split(",") if b]

    def getbinaries(self, q):
        try:
            found = self.binaries(q)
        except FileNotFoundError:
            return self.error(404, "repository does not exist")
        members, missing = [], []
        for name in self.wanted(q):
            path = found.get(name)
            if path:
                members.append((name + os.path.splitext(path)[1], path))
            else:
                missing.append(name)
        if missing:
            members.append((".errors", "".join(f"{n}: not available\n" for n in missing).encode()))
        self.reply_cpio(members)

    def getbinaryversions(self, q):
        try:
            found = self.binaries(q)
        except FileNotFoundError:
            return self.error(404, "repository does not exist")
        names = self.wanted(q)
        paths = [found[n] for n in names if n in found]
        # obs-build's own header checksum, so that bs_worker's cache check agrees.
        md5s = subprocess.run(
            ["perl", "-I/usr/lib/obs-build", "-MBuild", "-e",
             'print((Build::queryhdrmd5($_) // "") . "\\n") for @ARGV'] + paths,
            check=True, capture_output=True, text=True).stdout.split("\n")
        hdrmd5 = dict(zip(paths, md5s))
        lines = ["<binaryversionlist>"]
        for name in names:
            path = found.get(name)
            if not path:
                lines.append(f'  <binary name={xml_attr(name)} error="not available"/>')
                continue
            lines.append(f'  <binary name={xml_attr(name + os.path.splitext(path)[1])} '
                         f'hdrmd5="{hdrmd5[path]}" sizek="{(os.path.getsize(path) + 1023) // 1024}"/>')
        lines.append("</binaryversionlist>\n")
        self.reply(200, "\n".join(lines), "text/xml")

    def oldpackages(self, parts, q):
        if len(parts) != 4 or q.get("view", [""])[0] != "cpio":
            return self.error(404, "only /build/PROJECT/REPOSITORY/ARCH/PACKAGE?view=cpio")
        directory = self.safe("build", *parts)
        members = []
        if os.path.isdir(directory):
            members = [(n, os.path.join(directory, n)) for n in sorted(os.listdir(directory))]
        self.reply_cpio(members)

    def putjob(self, q):
        job, code = self.one(q, "job"), self.one(q, "code")
        with Handler.lock:
            base = os.path.join(self.data, "putjob")
            os.makedirs(base, exist_ok=True)
            n = len(os.listdir(base)) + 1
            record = os.path.join(base, str(n))
            os.makedirs(os.path.join(record, "files"))
        names = []
        if self.headers.get("Content-Type", "") == "application/x-cpio":
            names = read_cpio(self.body(), os.path.join(record, "files"))
        else:
            self.body()
        query = {k: v[0] for k, v in q.items()}
        query["files"] = names
        # The package's results become its old packages, as on a real repository server.
        match = re.fullmatch(r"(.+)::(.+)::(.+)-[0-9a-f]{32}", job)
        if code == "succeeded" and match:
            project, repository, package = match.groups()
            target = self.safe("build", project, repository, self.one(q, "arch"), package)
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            for name in names:
                if name.endswith(PACKAGE_SUFFIXES):
                    shutil.copy(os.path.join(record, "files", name), target)
        with open(os.path.join(record, "query.json.tmp"), "w") as f:
            json.dump(query, f, indent=1, sort_keys=True)
        # Complete once query.json is there: tests wait for it.
        os.rename(os.path.join(record, "query.json.tmp"), os.path.join(record, "query.json"))
        self.reply(200, '<status code="ok" />\n', "text/xml")

    def worker(self, method, q):
        body = self.body().read() if method == "POST" else b""
        with Handler.lock, open(os.path.join(self.data, "worker.log"), "a") as f:
            f.write(json.dumps({k: v[0] for k, v in q.items()} | {"method": method,
                                                                 "body": body.decode(errors="replace")}) + "\n")
        self.reply(200, '<status code="ok" />\n', "text/xml")


def main():
    args = sys.argv[1:]
    port = 0
    if len(args) == 3 and args[1] == "--port":
        port = int(args[2])
        args = args[:1]
    if len(args) != 1 or not os.path.isdir(args[0]):
        sys.exit("usage: obs_standin.py DATA [--port N]  (DATA: an existing directory)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.data = os.path.abspath(args[0])
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
