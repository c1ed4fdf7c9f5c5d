module livevote/result

go 1.26
