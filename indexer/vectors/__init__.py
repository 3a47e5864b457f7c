"""Vector indexes: one base class (base), the kinds (flat, ann), and one registry that makes and loads them (factory)."""
