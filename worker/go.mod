module livevote/worker

go 1.26
