"""A real SMTP server on 127.0.0.1 for the notification tests (aiosmtpd).

    python3 catcher.py OUT_DIR [--tls CERT KEY] [--auth USER PASSWORD]

Binds a free port and prints it on the first line of stdout. Each message received is written
to OUT_DIR/<n>.json (through a rename, so a file that exists is whole): its envelope, its text,
whether the session was under TLS (STARTTLS) and the login it authenticated with. With --tls it
offers STARTTLS with that certificate and refuses mail before it; with --auth it offers AUTH
(PLAIN, LOGIN) only under TLS and refuses mail from a session that did not log in.
"""

import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    args = sys.argv[1:]
    out = args.pop(0)
    cert = key = user = password = None
    while args:
        flag = args.pop(0)
        if flag == "--tls":
            cert, key = args.pop(0), args.pop(0)
        elif flag == "--auth":
            user, password = args.pop(0), args.pop(0)
        else:
            sys.exit(f"unknown argument {flag}")
    count = [0]

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            count[0] += 1
            record = {
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
                "tls": session.ssl is not None,
                "login": session.auth_data if session.authenticated else None,
            }
            path = os.path.join(out, f"{count[0]}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(record, f)
            os.rename(path + ".tmp", path)
            return "250 OK queued"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data.login.decode() if ok else None)

    context = None
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

    def factory():
        return SMTP(
            Handler(),
            hostname="catcher.test",
            tls_context=context,
            require_starttls=context is not None,
            authenticator=authenticator if user is not None else None,
            auth_required=user is not None,
            auth_require_tls=True,
        )

    async def serve():
        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
