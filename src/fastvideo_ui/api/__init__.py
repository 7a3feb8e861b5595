"""HTTP only: routes, request and response shapes, error mapping."""
