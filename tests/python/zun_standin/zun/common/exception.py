"""The Zun exceptions the driver raises (zun/common/exception.py): same classes, bases,
`message` templates and `code`s. ZunException(message=None, **kwargs) %-formats the message
with kwargs (plus `code`), as Zun does."""


class ZunException(Exception):
    message = "An unknown exception occurred."
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if 'code' not in self.kwargs and hasattr(self, 'code'):
            self.kwargs['code'] = self.code
        if message:
            self.message = message
        try:
            self.message = self.message % kwargs
        except KeyError:
            pass
        super(ZunException, self).__init__(self.message)

    def __str__(self):
        return self.message

    def format_message(self):
        return str(self)


class ObjectNotFound(ZunException):
    message = "The %(name)s %(id)s could not be found."


class ResourceNotFound(ObjectNotFound):
    message = "The %(name)s resource %(id)s could not be found."
    code = 404


class Invalid(ZunException):
    message = "Unacceptable parameters."
    code = 400


class HTTPNotFound(ResourceNotFound):
    pass


class Conflict(ZunException):
    message = 'Conflict.'
    code = 409


class InvalidState(Conflict):
    message = "Invalid resource state."


class NotAuthorized(ZunException):
    message = "Not authorized."
    code = 403


class ContainerNotFound(HTTPNotFound):
    message = "Container %(container)s could not be found."


class ImageNotFound(Invalid):
    message = "Image %(image)s could not be found."


class DockerError(ZunException):
    message = "Docker internal error: %(error_msg)s."


class NotFound(ZunException):
    message = "Resource could not be found."
    code = 404
