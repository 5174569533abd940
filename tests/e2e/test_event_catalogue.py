"""The event catalogue (docs/events.md) is what ops/generate-event-catalogue writes from the JSON
Schemas in domain/events/schemas/: not stale, every schema listed, and every field it calls
encrypted is one its schema pins to enc:v1: ciphertext (and the other way round). Reads files
only: no server, no database, no log engine (it runs for each engine like any e2e file)."""

import glob
import json
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATOR = os.path.join(ROOT, "ops", "generate-event-catalogue")
CATALOGUE = os.path.join(ROOT, "docs", "events.md")
SCHEMAS = sorted(glob.glob(os.path.join(ROOT, "domain", "events", "schemas", "*.json")))
SECTION = re.compile(r"^### (?P<type>[a-z_]+\.[a-z_]+) v(?P<version>[0-9]+)$")
FIELD_ROW = re.compile(r"^\| `(?P<field>[a-z_]+)` \| [^|]+ \| (yes|no) \| (?P<encrypted>[^|]+) \|")


def data_fields(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["properties"]["data"]["properties"]


def marked_encrypted(spec):
    """Independent of the generator: the schema pins the field to enc:v1: somewhere."""
    return "enc:v1:" in json.dumps(spec)


class EventCatalogueTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(CATALOGUE, encoding="utf-8") as f:
            cls.page = f.read()
        cls.sections = {}  # "type.v<N>.json" -> {field: encrypted column}
        current = None
        for line in cls.page.splitlines():
            match = SECTION.match(line)
            if match:
                current = cls.sections.setdefault(
                    f"{match['type']}.v{match['version']}.json", {})
                continue
            row = FIELD_ROW.match(line)
            if row and current is not None:
                current[row["field"]] = row["encrypted"].strip()

    def test_catalogue_is_up_to_date(self):
        result = subprocess.run([sys.executable, GENERATOR, "--check"], capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 0,
                         f"docs/events.md is stale; run ops/generate-event-catalogue\n"
                         f"{result.stdout[-3000:]}{result.stderr}")

    def test_every_schema_is_catalogued(self):
        self.assertGreater(len(SCHEMAS), 30)
        for path in SCHEMAS:
            name = os.path.basename(path)
            self.assertIn(f"(../domain/events/schemas/{name})", self.page, name)
            self.assertIn(name, self.sections, f"no section for {name}")
        self.assertEqual(len(self.sections), len(SCHEMAS), "a section without a schema")

    def test_fields_and_encryption_match_the_schemas(self):
        for path in SCHEMAS:
            name = os.path.basename(path)
            fields = data_fields(path)
            listed = self.sections[name]
            self.assertEqual(sorted(listed), sorted(fields), f"{name}: data fields")
            for field, column in listed.items():
                self.assertIn(column, ("no", "always", "or empty", "in part"), f"{name}.{field}")
                self.assertEqual(column != "no", marked_encrypted(fields[field]),
                                 f"{name}: {field} is listed as encrypted={column!r}")

    def test_known_personal_fields_are_encrypted(self):
        # A sanity anchor on the catalogue's reading of the schemas, not only on its consistency.
        expect = {"account.registered.v1.json": {"email": "always", "display_name": "always",
                                                 "password_hash": "always", "email_hash": "no"},
                  "session.requested.v1.json": {"topic": "or empty", "start": "no"},
                  "account.suspended.v1.json": {"reason": "or empty"},
                  "chat.message_sent.v1.json": {"content": "always"},
                  # A patient's session entries: the id in clear, the details sealed since v2.
                  "patient.created.v1.json": {"sessions": "no"},
                  "patient.created.v2.json": {"sessions": "in part", "tags": "no"},
                  "patient.session_added.v2.json": {"session": "in part"}}
        for name, fields in expect.items():
            for field, column in fields.items():
                self.assertEqual(self.sections[name][field], column, f"{name}.{field}")


if __name__ == "__main__":
    program = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if program.result.wasSuccessful() and program.result.testsRun else 1)
