"""The demo bills (DESIGN §8): a small, valid one-page PDF for each invoice whose row in the demo
billing file names one (``StatementFile``), made when the sandbox starts and put into its inbound
bucket under ``statements/``, where the biller would drop them. Deterministic: the same billing row
always makes the same bytes.

``python -m sandbox.statements DIR`` writes them into DIR instead, to look at.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3

from sandbox.demo import BILLING_FILE

__all__ = ["DemoStatement", "demo_statements", "pdf_document", "put_demo_statements"]

BILLER = "Avocette Utilities"
_PAGE = (612, 792)  # US Letter, in points


@dataclass(frozen=True)
class DemoStatement:
    key: str  # statements/<StatementFile>
    account_number: str
    invoice_number: str
    pdf: bytes


def _text(value: str) -> str:
    """A PDF string literal's body: Latin-1 text (anything else becomes ?), its delimiters escaped."""
    plain = value.encode("latin-1", errors="replace").decode("latin-1")
    return plain.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").replace("\r", " ").replace("\n", " ")


def pdf_document(title: str, lines: Sequence[tuple[str, str]]) -> bytes:
    """A one-page PDF 1.4 of text lines (``(style, text)``, style ``"title"``, ``"bold"`` or ``"body"``),
    with its cross-reference table at the right offsets, as PDF readers check."""
    sizes = {"title": (18, "F2", 30), "bold": (11, "F2", 18), "body": (11, "F1", 16)}
    y = _PAGE[1] - 72
    commands = ["BT"]
    for style, text in lines:
        size, font, step = sizes[style]
        commands.append(f"/{font} {size} Tf 1 0 0 1 72 {y} Tm ({_text(text)}) Tj")
        y -= step
    commands.append("ET")
    content = "\n".join(commands).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE[0]} {_PAGE[1]}] "
            "/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>"
        ).encode("ascii"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode("ascii") + b" >>\nstream\n" + content + b"\nendstream",
        f"<< /Title ({_text(title)}) /Producer (avocette-payments sandbox) >>".encode("latin-1"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode("ascii")
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 7 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode(
        "ascii"
    )
    return bytes(out)


def _bill(row: dict[str, str]) -> bytes:
    minimum = row.get("MinimumAmountDue") or ""
    lines = [
        ("title", f"{BILLER} - your bill"),
        ("body", ""),
        ("bold", f"Account {row['AccountNumber']}"),
        ("body", row["Name"]),
        ("body", row["Address"]),
        ("body", f"{row['City']}, {row['State']} {row['Zip']}"),
        ("body", ""),
        ("bold", f"Invoice {row['InvoiceNumber']}"),
        ("body", f"Invoice date: {row['InvoiceDate']}"),
        ("body", f"Due date: {row['DueDate']}"),
        ("body", f"Amount due: ${row['BalanceDue']}"),
        *([("body", f"Minimum due: ${minimum}")] if minimum else []),
        ("body", ""),
        ("body", "Pay online through your Avocette portal (Invoice Cloud's secure page)."),
        ("body", "This is a demo bill made by the local sandbox."),
    ]
    return pdf_document(f"{BILLER} bill {row['InvoiceNumber']}", lines)


def demo_statements(billing_file: Path = BILLING_FILE) -> Iterator[DemoStatement]:
    """A bill for each row of the demo billing file that names one."""
    with billing_file.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name = (row.get("StatementFile") or "").strip()
            if name:
                yield DemoStatement(
                    key="statements/" + name.removeprefix("statements/"),
                    account_number=row["AccountNumber"],
                    invoice_number=row["InvoiceNumber"],
                    pdf=_bill(row),
                )


def put_demo_statements(bucket: str) -> int:
    """Put the demo bills into ``bucket`` (the sandbox's inbound bucket); how many."""
    s3 = boto3.client("s3")
    count = 0
    for statement in demo_statements():
        s3.put_object(Bucket=bucket, Key=statement.key, Body=statement.pdf, ContentType="application/pdf")
        count += 1
    return count


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m sandbox.statements DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    for statement in demo_statements():
        path = target / statement.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(statement.pdf)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
