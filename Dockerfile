# Multi-stage build of bespin-api: a static binary on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/bespin-api ./cmd/bespin-api

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bespin-api /bespin-api
EXPOSE 3002
ENTRYPOINT ["/bespin-api"]
CMD ["serve"]
