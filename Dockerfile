# syntax=docker/dockerfile:1
# The zis-operator image: the release `zis-operator` binary alone (none of the sandbox's development
# tools), on a distroless base, as a numeric non-root user.
#
#   docker build -t zis-operator:0.1.0 .
#
# The binary links glibc dynamically (rustls with ring for TLS, no OpenSSL), so the final image is
# distroless/cc (glibc, libgcc, CA certificates, no shell, no package manager) rather than
# distroless/static, which would need a musl build and its slower allocator. tests/chart.rs checks
# this file: only the operator is built, with --locked, and the user is numeric and matches the
# chart's runAsUser.

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build folder between builds (BuildKit); the binary is
# copied out of the cached folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p zis-operator --bin zis-operator \
    && install -D -m 0755 target/release/zis-operator /out/zis-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/zis-operator /usr/local/bin/zis-operator
# distroless's `nonroot` user, by number, so that Kubernetes can check runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/zis-operator"]
CMD ["run"]
