"""HTTP plumbing shared by every domain's routes: the container, problem details, request ids, logging."""

from xinyidai.http.container import Container, get_container
from xinyidai.http.problems import problem_response

__all__ = ["Container", "get_container", "problem_response"]
