"""The kernels: every O(n) loop of calipers, in three interchangeable backends.

- :mod:`.contract`: the kernel contract (a ``typing.Protocol``): every kernel, its
  arguments, dtypes and errors;
- :mod:`.numpy_backend`: the readable reference, plain numpy;
- :mod:`.numba_backend`: ``@njit(nogil=True)`` mirrors of the C++ loops (lazy: numba is optional);
- the C++ extension ``calipers._core`` (header-only core in ``cpp/include/calipers``);
- :mod:`.backend`: ``backend="auto"|"cpp"|"numba"|"numpy"`` resolution.

This layer imports nothing of calipers above ``calipers._common``.
"""
