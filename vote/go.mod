module livevote/vote

go 1.26
