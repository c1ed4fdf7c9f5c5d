module livevote/e2e

go 1.26
