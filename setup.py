"""The one compiled part: the verifier's optional C check (src/crm_ledger/ledger/_native.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler
or OpenSSL's headers the install goes on, and the verifier takes its Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "crm_ledger.ledger._native",
            ["src/crm_ledger/ledger/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
