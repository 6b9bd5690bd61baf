"""Search: query DSL, analysis, aggregations and response bodies.  [no I/O]"""
