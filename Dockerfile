# Multi-stage build of bespin-api: a static binary on a distroless base.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t bespin-api .
# (`make docker` does this.) Images are pinned by version tag; pin them by
# digest (image:tag@sha256:...) where the registry can be reached to
# resolve one. The distroless base publishes no version tags, only the
# Debian release it is built on.
FROM golang:1.26.8-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version `bespin-api version` and GET /api/ report. .git is not in the
# build context (.dockerignore), so it cannot be read from there.
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/bespin-api ./cmd/bespin-api

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bespin-api /bespin-api
EXPOSE 3002
# No HEALTHCHECK here: the same image runs `serve` and `worker`, which are
# checked differently (`bespin-api healthcheck` / `healthcheck worker`);
# docker-compose.yml and your orchestrator say which.
ENTRYPOINT ["/bespin-api"]
CMD ["serve"]
