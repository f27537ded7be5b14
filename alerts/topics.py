"""Topic queries, as the rest of newshound sees them: parse a query, match many at once, explain.

The language lives in alerts.query, the compiled matcher in alerts.matcher, and sentences,
snippets and highlighting in alerts.snippets; this module is the one place others import from.
"""

from alerts.matcher import Document, Hit, TopicMatcher
from alerts.query import (
    And,
    Near,
    Node,
    Not,
    Or,
    Query,
    QueryError,
    Term,
    Value,
    Word,
    spellings,
)
from alerts.snippets import MAX_SNIPPETS, SNIPPET_MAX_CHARS, highlight

__all__ = [
    "MAX_SNIPPETS",
    "SNIPPET_MAX_CHARS",
    "And",
    "Document",
    "Hit",
    "Near",
    "Node",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "Term",
    "TopicMatcher",
    "Value",
    "Word",
    "highlight",
    "spellings",
]
