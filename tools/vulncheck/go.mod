// The vulnerability check (make vulncheck). A module of its own, so nothing it runs or imports
// reaches the builds of Shardwise's users: it imports only the standard library and runs the
// pinned govulncheck and vulndb index builder with go run.
module github.com/shardwise/shardwise/tools/vulncheck

go 1.26.0
