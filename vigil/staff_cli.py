"""`vigil staff add|passwd|disable`: staff accounts for signing in to the workspace.

    vigil staff add nurse.li --name "Li Na" --role nurse --team ward-1 [--team ward-2]
                    [--locale zh-CN] [--time-zone Asia/Shanghai] [--id STAFF_ID] [--password-stdin]
    vigil staff passwd nurse.li [--password-stdin]
    vigil staff disable nurse.li

A password is asked for twice at a terminal, or read as the first line of standard input
(`--password-stdin`, or whenever standard input is not a terminal). Never as an argument: it
would stay in the shell's history and in the process list. `add` on an existing staff id (say,
one enrolled through the API) gives them a login; `disable` ends their sessions and stops their
API tokens.

Must not: print or log a password.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable

from psycopg_pool import AsyncConnectionPool

from api import staff_accounts
from vigil.runtime import utc_now
from vigil.settings import Settings


def add_arguments(sp: argparse.ArgumentParser) -> None:
    actions = sp.add_subparsers(dest="staff_action", required=True)
    add = actions.add_parser("add", help="create a staff member who signs in as LOGIN")
    add.add_argument("login")
    add.add_argument("--name", required=True, help="the name colleagues know them by")
    add.add_argument("--role", required=True, choices=staff_accounts.ROLES)
    add.add_argument("--team", required=True, action="append", dest="teams",
                     help="a care team id (repeat for several)")  # fmt: skip
    add.add_argument("--locale", choices=staff_accounts.LOCALES, default="en")
    add.add_argument("--time-zone", help="IANA name (default: the first team's)")
    add.add_argument("--id", dest="staff_id", help="staff id (default: the login)")
    add.add_argument("--password-stdin", action="store_true")
    passwd = actions.add_parser("passwd", help="set a new password; ends their sessions")
    passwd.add_argument("login")
    passwd.add_argument("--password-stdin", action="store_true")
    disable = actions.add_parser("disable", help="refuse sign-in, end sessions, stop tokens")
    disable.add_argument("login")


def read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise staff_accounts.AccountError("the two passwords differ")
    return first


def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    try:
        message = asyncio.run(_run(args, settings))
    except staff_accounts.AccountError as e:
        print(f"vigil staff {args.staff_action}: {e}", file=sys.stderr)
        return 1
    print(message)
    return 0


async def _run(args: argparse.Namespace, settings: Settings) -> str:
    action: Callable[[AsyncConnectionPool, argparse.Namespace], Awaitable[str]] = {
        "add": _add, "passwd": _passwd, "disable": _disable,
    }[args.staff_action]  # fmt: skip
    dsn = settings.db.dsn.get_secret_value()
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        return await action(pool, args)


async def _add(pool: AsyncConnectionPool, args: argparse.Namespace) -> str:
    password = read_password(args.password_stdin)
    staff_id = await staff_accounts.add_staff(
        pool, utc_now(), login=args.login, name=args.name, role=args.role, teams=args.teams,
        password=password, locale=args.locale, time_zone=args.time_zone, staff_id=args.staff_id,
    )  # fmt: skip
    return f"{args.login} ({args.role}, staff id {staff_id}) can sign in"


async def _passwd(pool: AsyncConnectionPool, args: argparse.Namespace) -> str:
    await staff_accounts.change_password(
        pool, utc_now(), args.login, read_password(args.password_stdin)
    )
    return f"new password set for {args.login}; their sessions were ended"


async def _disable(pool: AsyncConnectionPool, args: argparse.Namespace) -> str:
    ended = await staff_accounts.disable_staff(pool, utc_now(), args.login)
    return f"{args.login} is disabled ({ended} session(s) ended, API tokens stopped)"
