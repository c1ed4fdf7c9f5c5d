module livevote/shared

go 1.26
