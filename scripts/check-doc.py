"""Check that ansible-doc --json read a module's docs from the installed collection (not the work tree)."""
import json
import sys

doc_file, name, expected_path = sys.argv[1:4]
with open(doc_file) as handle:
    doc = json.load(handle)[name]["doc"]
assert doc["filename"] == expected_path, (doc["filename"], expected_path)
assert doc["short_description"], "no short_description"
assert doc["options"], "no options"
print("%s: %d options, from %s" % (name, len(doc["options"]), doc["filename"]))
